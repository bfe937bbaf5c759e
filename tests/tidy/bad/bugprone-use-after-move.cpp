// Planted for scripts/check-tidy --self-test: a string read after std::move.
#include <string>
#include <utility>
#include <vector>

std::size_t Planted(std::vector<std::string>& out, std::string name) {
  out.push_back(std::move(name));
  return name.size();
}
