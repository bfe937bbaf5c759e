// Planted for scripts/check-tidy --self-test: an int assigned to a string
// (becomes one char, not the number's digits).
#include <string>

std::string Planted(int code) {
  std::string s;
  s = code;
  return s;
}
