// cantdo-authority: wiring only. The logic lives in authority_lib.
#include "authority/authority_app.hpp"
#include "cantdo/runtime/service_runtime.hpp"

int main(int argc, char** argv) {
  cantdo::authority::AuthorityApp app;
  return cantdo::runtime::RunServiceMain(app, argc, argv);
}
