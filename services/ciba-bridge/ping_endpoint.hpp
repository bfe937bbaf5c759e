#pragma once
// The CIBA ping-mode notification endpoint (CIBA Core 10.2): the provider
// POSTs {"auth_req_id": ...} with `Authorization: Bearer
// <client_notification_token>`. The token (256 random bits per request) is
// checked against its stored SHA-256 in constant time; a match makes the
// request's token fetch due now. Any mismatch is a bare 401: the endpoint
// tells an outsider nothing about which ids exist.

#include "cantdo/http/https_server.hpp"
#include "ciba-bridge/ciba_engine.hpp"
#include "ciba-bridge/ciba_request_store.hpp"

namespace cantdo::bridge {

inline constexpr char kPingPath[] = "/ciba/notify";

// `store` and `engine` must outlive the handler.
http::Handler MakePingHandler(PgCibaRequestStore& store, CibaEngine& engine);

}  // namespace cantdo::bridge
