// Planted for scripts/check-tidy --self-test: std::string(char, count).
#include <string>

std::string Planted() { return std::string('x', 50); }
