// Planted for scripts/check-tidy --self-test: doubles summed into an int.
#include <numeric>
#include <vector>

double Planted(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0); }
