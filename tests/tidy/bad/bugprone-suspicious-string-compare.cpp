// Planted for scripts/check-tidy --self-test: strcmp used as a boolean.
#include <cstring>

bool Planted(const char* a, const char* b) {
  if (strcmp(a, b)) return true;
  return false;
}
