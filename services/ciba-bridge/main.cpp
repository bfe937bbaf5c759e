// cantdo-ciba-bridge: wiring only. The logic lives in ciba_bridge_lib.
#include "ciba-bridge/bridge_app.hpp"
#include "cantdo/runtime/service_runtime.hpp"

int main(int argc, char** argv) {
  cantdo::bridge::BridgeApp app;
  return cantdo::runtime::RunServiceMain(app, argc, argv);
}
