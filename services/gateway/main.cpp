// cantdo-gateway: wiring only. The logic lives in gateway_lib.
#include "gateway/gateway_app.hpp"
#include "cantdo/runtime/service_runtime.hpp"

int main(int argc, char** argv) {
  cantdo::gateway::GatewayApp app;
  return cantdo::runtime::RunServiceMain(app, argc, argv);
}
