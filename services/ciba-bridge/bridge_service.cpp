#include "ciba-bridge/bridge_service.hpp"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/status.hpp"
#include "google/protobuf/util/time_util.h"

namespace cantdo::bridge {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp Ts(absl::Time t) { return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t)); }

v1::BackchannelAuthenticationState StateEnum(const std::string& s) {
  if (s == "PENDING") return v1::BACKCHANNEL_AUTHENTICATION_STATE_PENDING;
  if (s == "APPROVED") return v1::BACKCHANNEL_AUTHENTICATION_STATE_APPROVED;
  if (s == "DENIED") return v1::BACKCHANNEL_AUTHENTICATION_STATE_DENIED;
  if (s == "EXPIRED") return v1::BACKCHANNEL_AUTHENTICATION_STATE_EXPIRED;
  if (s == "LOST") return v1::BACKCHANNEL_AUTHENTICATION_STATE_LOST;
  if (s == "FAILED") return v1::BACKCHANNEL_AUTHENTICATION_STATE_FAILED;
  if (s == "CANCELLED") return v1::BACKCHANNEL_AUTHENTICATION_STATE_CANCELLED;
  return v1::BACKCHANNEL_AUTHENTICATION_STATE_UNSPECIFIED;
}

absl::Status AuthorityOnly(const ::grpc::ServerContext& ctx) {
  return grpc::RequirePeer(ctx, {grpc::ServiceSpiffeId("authority")});
}

absl::Status CheckId(const std::string& id) {
  if (id.empty() || id.size() > 128) return InvalidArgument("id", "required, at most 128 characters");
  return absl::OkStatus();
}

}  // namespace

v1::BackchannelAuthentication ToProto(const CibaRequestRow& r) {
  v1::BackchannelAuthentication p;
  p.set_id(r.id);
  p.set_approval_id(r.approval_id);
  p.set_state(StateEnum(r.state));
  p.set_auth_req_id(r.auth_req_id.value_or(""));
  p.set_login_hint(r.login_hint);
  p.set_binding_message(r.binding_message);
  p.set_scope(r.scope);
  p.set_delivery_mode(r.delivery_mode == "ping" ? v1::DELIVERY_MODE_PING : v1::DELIVERY_MODE_POLL);
  *p.mutable_create_time() = Ts(r.create_time);
  if (r.expire_time) *p.mutable_expire_time() = Ts(*r.expire_time);
  *p.mutable_poll_interval() = TimeUtil::MillisecondsToDuration(r.poll_interval_ms);
  if (r.state == "PENDING" && r.next_poll_at) *p.mutable_next_poll_time() = Ts(*r.next_poll_at);
  p.set_attempts(r.attempts);
  if (r.last_error) {
    auto* e = p.mutable_last_provider_error();
    e->set_error(*r.last_error);
    e->set_error_description(r.last_error_description.value_or(""));
    e->set_http_status(r.last_error_http_status);
    if (r.last_error_at) *e->mutable_time() = Ts(*r.last_error_at);
  }
  if (r.finish_time) *p.mutable_finish_time() = Ts(*r.finish_time);
  p.set_delivered(r.delivery_state == "acknowledged");
  if (r.delivery_state == "rejected") p.set_delivery_error(r.delivery_error.value_or(""));
  p.set_delivery_attempts(r.delivery_attempts);
  p.set_ask(r.ask);
  return p;
}

absl::Status BridgeService::Start(const v1::StartBackchannelAuthenticationRequest& request,
                                  v1::StartBackchannelAuthenticationResponse* response) {
  CANTDO_RETURN_IF_ERROR(ValidateStartRequest(request));
  CANTDO_RETURN_IF_ERROR(engine_.Ready());
  NewCibaRequest n;
  n.id = absl::StrCat("bca_", NewUuid());
  n.approval_id = request.approval_id();
  n.login_hint = request.login_hint();
  n.binding_message = request.binding_message();
  n.scope = request.scope().empty() ? "openid" : request.scope();
  if (request.has_requested_expiry()) n.requested_expiry_seconds = request.requested_expiry().seconds();
  n.acr_values = absl::StrJoin(request.acr_values(), " ");
  n.authorization_details = request.authorization_details();
  n.audience = request.audience();
  n.claims = request.claims();
  n.ask = std::max(1, request.ask());
  n.traceparent = trace::CurrentTraceparent();
  n.delivery_mode = config_.mode == DeliveryMode::kPing ? "ping" : "poll";
  n.poll_interval = config_.default_poll_interval;
  bool created = false;
  CANTDO_ASSIGN_OR_RETURN(CibaRequestRow row, store_.CreateOrGet(n, engine_.owner(), engine_.lease(), &created));
  if (!created) {
    const bool same = row.binding_message == n.binding_message && row.scope == n.scope &&
                      row.requested_expiry_seconds == n.requested_expiry_seconds && row.acr_values == n.acr_values &&
                      row.authorization_details == n.authorization_details && row.audience == n.audience &&
                      row.claims == n.claims;
    if (!same) {
      return WithMetadata(WithReason(absl::AlreadyExistsError(absl::StrCat(
                                         "approval ", n.approval_id,
                                         " already has a backchannel authentication for this login_hint and ask with "
                                         "different parameters")),
                                     "IDEMPOTENCY_KEY_REUSED"),
                          "id", row.id);
    }
    *response->mutable_authentication() = ToProto(row);
    response->set_created(false);
    return absl::OkStatus();
  }
  CANTDO_ASSIGN_OR_RETURN(CibaRequestRow sent, engine_.SendNew(row));
  *response->mutable_authentication() = ToProto(sent);
  response->set_created(true);
  return absl::OkStatus();
}

::grpc::Status BridgeService::StartBackchannelAuthentication(::grpc::ServerContext* ctx,
                                                             const v1::StartBackchannelAuthenticationRequest* request,
                                                             v1::StartBackchannelAuthenticationResponse* response) {
  return grpc::Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(AuthorityOnly(*ctx));
    return Start(*request, response);
  });
}

::grpc::Status BridgeService::GetBackchannelAuthentication(::grpc::ServerContext* ctx,
                                                           const v1::GetBackchannelAuthenticationRequest* request,
                                                           v1::GetBackchannelAuthenticationResponse* response) {
  return grpc::Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(AuthorityOnly(*ctx));
    CANTDO_RETURN_IF_ERROR(CheckId(request->id()));
    CANTDO_ASSIGN_OR_RETURN(CibaRequestRow row, store_.Get(request->id()));
    *response->mutable_authentication() = ToProto(row);
    return absl::OkStatus();
  });
}

::grpc::Status BridgeService::CancelBackchannelAuthentication(::grpc::ServerContext* ctx,
                                                              const v1::CancelBackchannelAuthenticationRequest* request,
                                                              v1::CancelBackchannelAuthenticationResponse* response) {
  return grpc::Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(AuthorityOnly(*ctx));
    CANTDO_RETURN_IF_ERROR(CheckId(request->id()));
    if (request->reason().size() > 1024) return InvalidArgument("reason", "at most 1024 characters");
    CANTDO_ASSIGN_OR_RETURN(CibaRequestRow row, store_.Cancel(request->id(), request->reason()));
    log::Info("backchannel authentication cancelled", {{"id", row.id}, {"approval_id", row.approval_id}});
    *response->mutable_authentication() = ToProto(row);
    return absl::OkStatus();
  });
}

}  // namespace cantdo::bridge
