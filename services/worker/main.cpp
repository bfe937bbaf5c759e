// cantdo-worker: wiring only. The logic lives in worker_lib.
#include "worker/worker_app.hpp"
#include "cantdo/runtime/service_runtime.hpp"

int main(int argc, char** argv) {
  cantdo::worker::WorkerApp app;
  return cantdo::runtime::RunServiceMain(app, argc, argv);
}
