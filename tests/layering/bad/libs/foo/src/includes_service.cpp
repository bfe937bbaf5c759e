// libs/ may not include a service.
#include "gateway/gateway_app.hpp"
