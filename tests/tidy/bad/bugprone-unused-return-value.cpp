// Planted for scripts/check-tidy --self-test: std::remove without erase.
#include <algorithm>
#include <vector>

void Planted(std::vector<int>& v) { std::remove(v.begin(), v.end(), 0); }
