#include "worker/worker_app.hpp"

namespace cantdo::worker {

absl::Status WorkerApp::Init(const runtime::RuntimeContext& /*ctx*/) { return absl::OkStatus(); }

}  // namespace cantdo::worker
