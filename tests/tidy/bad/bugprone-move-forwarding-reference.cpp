// Planted for scripts/check-tidy --self-test: std::move of a forwarding reference.
#include <utility>
#include <vector>

template <typename T>
void Planted(std::vector<T>& out, T&& value) {
  out.push_back(std::move(value));
}
