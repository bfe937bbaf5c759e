#include "cantdo/base/fail_point.hpp"

#include <csignal>
#include <cstdlib>

#include "cantdo/base/log.hpp"

namespace cantdo {

void FailPoint(const std::string& name) {
  const char* armed = std::getenv("CANTDO_FAILPOINT");
  if (armed == nullptr || name != armed) return;
  log::Warn("fail point reached; killing the process", {{"fail_point", name}});
  std::raise(SIGKILL);
}

}  // namespace cantdo
