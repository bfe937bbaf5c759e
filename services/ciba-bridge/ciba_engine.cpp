#include "ciba-bridge/ciba_engine.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/fail_point.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "google/protobuf/util/time_util.h"

namespace cantdo::bridge {
namespace {

// How long after the provider's expiry a request that could not be settled
// with the provider (unreachable) is declared EXPIRED by the bridge itself.
constexpr absl::Duration kLocalExpiryGrace = absl::Seconds(30);
// Without requested_expiry, how long the bridge keeps retrying to send.
constexpr absl::Duration kDefaultSendWindow = absl::Minutes(10);

ErrorRecord ErrorOf(const ProviderAnswer& a) { return {a.error, a.error_description, a.http_status}; }

authority::v1::CibaOutcome OutcomeEnum(const std::string& outcome) {
  if (outcome == "APPROVED") return authority::v1::CIBA_OUTCOME_APPROVED;
  if (outcome == "DENIED") return authority::v1::CIBA_OUTCOME_DENIED;
  if (outcome == "EXPIRED") return authority::v1::CIBA_OUTCOME_EXPIRED;
  if (outcome == "LOST") return authority::v1::CIBA_OUTCOME_LOST;
  return authority::v1::CIBA_OUTCOME_ERROR;
}

}  // namespace

CibaEngine::CibaEngine(const BridgeConfig& config, PgCibaRequestStore& store, const CibaClient& client,
                       AuthorityNotifier& authority, std::string owner, BridgeMetrics& metrics)
    : config_(config),
      store_(store),
      client_(client),
      authority_(authority),
      owner_(std::move(owner)),
      metrics_(metrics) {}

CibaEngine::~CibaEngine() { Stop(); }

absl::Duration CibaEngine::lease() const { return 3 * config_.http_timeout + absl::Seconds(10); }

void CibaEngine::Start() {
  threads_.emplace_back([this] { DiscoveryLoop(); });
  for (int i = 0; i < config_.workers; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

void CibaEngine::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void CibaEngine::Wake() {
  absl::MutexLock lock(&mu_);
  ++wakeups_;
}

bool CibaEngine::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  const uint64_t seen = wakeups_;
  auto woken = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || wakeups_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&woken), d);
  return !stopping_;
}

absl::Status CibaEngine::Ready() const {
  absl::MutexLock lock(&mu_);
  if (provider_) return absl::OkStatus();
  return Unavailable("DEPENDENCY_UNAVAILABLE", absl::StrCat("identity provider discovery: ", discovery_problem_));
}

std::optional<ProviderMetadata> CibaEngine::provider() const {
  absl::MutexLock lock(&mu_);
  return provider_;
}

void CibaEngine::DiscoveryLoop() {
  for (int attempt = 1;; ++attempt) {
    auto metadata = client_.Discover();
    if (metadata.ok()) {
      log::Info("identity provider discovered",
                {{"issuer", metadata->issuer},
                 {"backchannel_endpoint", metadata->backchannel_authentication_endpoint},
                 {"token_endpoint", metadata->token_endpoint}});
      absl::MutexLock lock(&mu_);
      provider_ = *std::move(metadata);
      ++wakeups_;
      return;
    }
    metrics_.DiscoveryFailed();
    log::Warn("identity provider discovery failed",
              {{"issuer", config_.issuer}, {"attempt", attempt}, {"error", std::string(metadata.status().message())}});
    {
      absl::MutexLock lock(&mu_);
      discovery_problem_ = std::string(metadata.status().message());
    }
    if (!Sleep(Backoff(attempt, config_.max_backoff))) return;
  }
}

void CibaEngine::WorkLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (!provider()) {
      if (!Sleep(config_.scan_interval)) return;
      continue;
    }
    auto rows = store_.LeaseDue(owner_, lease(), 1);
    if (!rows.ok()) {
      log::Warn("cannot lease due requests", {{"error", std::string(rows.status().message())}});
      if (!Sleep(config_.scan_interval)) return;
      continue;
    }
    if (rows->empty()) {
      if (!Sleep(config_.scan_interval)) return;
      continue;
    }
    for (const auto& row : *rows) Process(row);
  }
}

void CibaEngine::Process(const CibaRequestRow& row) {
  // The provider calls, the delivery to the authority and their log lines
  // continue the trace of the authority's call that asked for the request.
  trace::ScopedTrace traced(row.traceparent);
  if (row.state == "PENDING") {
    if (!row.auth_req_id) {
      (void)Send(row, /*from_rpc=*/false);
    } else {
      Poll(row);
    }
  } else if (row.delivery_state == "due") {
    Deliver(row);
  } else {
    (void)store_.Release(row.id, owner_);
  }
}

absl::StatusOr<CibaRequestRow> CibaEngine::SendNew(const CibaRequestRow& row) { return Send(row, /*from_rpc=*/true); }

absl::StatusOr<CibaRequestRow> CibaEngine::Send(const CibaRequestRow& row, bool from_rpc) {
  auto provider = this->provider();
  if (!provider) {
    (void)store_.Release(row.id, owner_);
    return Ready();
  }
  BackchannelParams p;
  p.scope = row.scope;
  p.login_hint = RenderLoginHint(config_.hint_format, config_.issuer, row.login_hint);
  p.binding_message = row.binding_message;
  p.requested_expiry_seconds = row.requested_expiry_seconds;
  p.acr_values = row.acr_values;
  p.authorization_details = row.authorization_details;
  p.audience = row.audience;
  p.claims = row.claims;
  std::string token_hash;
  if (config_.mode == DeliveryMode::kPing) {
    p.client_notification_token = NewSecret(32);  // 256 bits; only its hash is stored
    token_hash = Sha256Hex(p.client_notification_token);
  }
  const ProviderAnswer a = client_.Authenticate(*provider, p);
  nlohmann::json fields = {{"id", row.id}, {"approval_id", row.approval_id}};

  if (a.kind == ProviderAnswer::Kind::kSuccess) {
    const auto& b = a.body;
    const bool ok = b.contains("auth_req_id") && b["auth_req_id"].is_string() &&
                    !b["auth_req_id"].get<std::string>().empty() && b.contains("expires_in") &&
                    b["expires_in"].is_number_integer() && b["expires_in"].get<int64_t>() > 0;
    if (ok) {
      absl::Duration interval = config_.default_poll_interval;
      if (b.contains("interval") && b["interval"].is_number_integer() && b["interval"].get<int64_t>() > 0) {
        interval = absl::Seconds(std::min<int64_t>(b["interval"].get<int64_t>(), 3600));
      }
      const absl::Duration first =
          config_.mode == DeliveryMode::kPing ? std::max(interval, config_.ping_fallback_poll) : interval;
      auto sent = store_.RecordSent(row.id, owner_, b["auth_req_id"].get<std::string>(), b["expires_in"].get<int64_t>(),
                                    interval, first, token_hash);
      fields["interval_ms"] = absl::ToInt64Milliseconds(interval);
      fields["expires_in"] = b["expires_in"];
      log::Info("backchannel authentication started", fields);
      metrics_.BackchannelRequest(true);
      return sent;
    }
  }
  metrics_.BackchannelRequest(false);
  metrics_.ProviderAnswered("backchannel", a, a.kind == ProviderAnswer::Kind::kSuccess ? "bad_response" : "");
  const bool transport = a.kind != ProviderAnswer::Kind::kOAuthError;
  ProviderAnswer recorded = a;
  if (a.kind == ProviderAnswer::Kind::kSuccess) {
    recorded.error = "bad_response";
    recorded.error_description = "the backchannel response lacks auth_req_id or expires_in";
  }
  fields["error"] = recorded.error;
  fields["error_description"] = recorded.error_description;
  fields["http_status"] = recorded.http_status;

  const absl::Duration window =
      row.requested_expiry_seconds ? absl::Seconds(*row.requested_expiry_seconds) : kDefaultSendWindow;
  const bool window_over = row.db_now > row.create_time + window;
  const bool config_error = IsConfigurationError(a.error);
  if ((transport || (config_error && !from_rpc)) && !window_over) {
    const absl::Duration delay = Backoff(row.transport_failures + 1, config_.max_backoff);
    fields["retry_in_ms"] = absl::ToInt64Milliseconds(delay);
    if (config_error) {
      log::Error("the provider rejected the bridge's client credentials; check --ciba-client-id and the secret",
                 fields);
    } else {
      log::Warn("backchannel authentication request failed; will retry", fields);
    }
    CANTDO_RETURN_IF_ERROR(store_.RecordSendRetry(row.id, owner_, ErrorOf(recorded), delay).status());
    return WithMetadata(
        Unavailable("CIBA_PROVIDER_ERROR", absl::StrCat("the identity provider could not be reached (", recorded.error,
                                                        "); the request is kept and retried")),
        "error", recorded.error);
  }
  // Refused for good. Nothing is delivered: the authority learns it from
  // this RPC's error (or, when the send was retried in the background, from
  // GetBackchannelAuthentication).
  log::Warn("backchannel authentication request refused", fields);
  CANTDO_RETURN_IF_ERROR(
      store_.RecordFinished(row.id, owner_, "FAILED", "", "", ErrorOf(recorded), /*counts_as_attempt=*/false).status());
  metrics_.Finished("FAILED");
  if (config_error) {
    log::Error("the provider rejected the bridge's client credentials; check --ciba-client-id and the secret", fields);
    return WithMetadata(
        FailedPrecondition("CIBA_CONFIGURATION_ERROR",
                           absl::StrCat("the identity provider rejected the bridge's client credentials (", a.error,
                                        ": ", a.error_description, "); check --ciba-client-id, the client secret and ",
                                        "--ciba-client-auth")),
        "error", a.error);
  }
  return WithMetadata(
      FailedPrecondition("CIBA_PROVIDER_ERROR", absl::StrCat("the identity provider refused the request (",
                                                             recorded.error, ": ", recorded.error_description, ")")),
      "error", recorded.error);
}

void CibaEngine::Poll(const CibaRequestRow& row) {
  auto provider = this->provider();
  if (!provider) {
    (void)store_.Release(row.id, owner_);
    return;
  }
  const ProviderAnswer a = client_.Token(*provider, *row.auth_req_id);
  const PollDecision d = DecidePoll(a, absl::Milliseconds(row.poll_interval_ms), row.transport_failures, row.db_now,
                                    row.expire_time, config_.max_backoff);
  metrics_.TokenPoll();
  if (a.kind == ProviderAnswer::Kind::kOAuthError && a.error == "slow_down") metrics_.SlowDown();
  metrics_.ProviderAnswered(
      "token", a, a.kind == ProviderAnswer::Kind::kSuccess && d.action == PollAction::kFailed ? "bad_response" : "");
  // The state a request ended in here, counted once recorded.
  std::string finished;
  nlohmann::json fields = {{"id", row.id}, {"approval_id", row.approval_id}, {"attempt", row.attempts + 1}};
  if (!a.error.empty()) fields["provider_error"] = a.error;
  absl::StatusOr<CibaRequestRow> result;
  switch (d.action) {
    case PollAction::kKeepWaiting: {
      if (row.expire_time && row.db_now > *row.expire_time + kLocalExpiryGrace) {
        log::Warn("backchannel authentication expired without an answer from the provider", fields);
        result = store_.RecordFinished(
            row.id, owner_, "EXPIRED", "EXPIRED", "",
            ErrorRecord{"expired_token", "expired while the provider gave no final answer", 0}, true);
        finished = "EXPIRED";
        Wake();
        break;
      }
      absl::Duration delay = d.next_delay;
      if (config_.mode == DeliveryMode::kPing && !d.transport_failure && a.error == "authorization_pending") {
        delay = std::max(delay, config_.ping_fallback_poll);
      }
      if (d.configuration_error) {
        log::Error("the provider rejected the bridge's client credentials; check --ciba-client-id and the secret",
                   fields);
      } else if (d.transport_failure) {
        fields["error_description"] = a.error_description;
        log::Warn("token request failed; will retry", fields);
      } else if (a.error == "slow_down") {
        fields["interval_ms"] = absl::ToInt64Milliseconds(d.interval);
        log::Info("provider asked to slow down", fields);
      }
      std::optional<ErrorRecord> err;
      if (!a.error.empty()) err = ErrorOf(a);
      result = store_.RecordPoll(row.id, owner_, d.interval, delay, err, d.transport_failure, true);
      break;
    }
    case PollAction::kApproved:
      // The provider has handed the tokens out; most providers do so once.
      // A crash before they are recorded loses them: the next poll gets
      // invalid_grant (kLost below) and the authority asks the approver
      // again (tests/e2e: the bridge killed at this point).
      FailPoint("ciba_bridge.poll.after_token_response");
      log::Info("backchannel authentication approved", fields);
      result = store_.RecordFinished(row.id, owner_, "APPROVED", "APPROVED", a.body["id_token"].get<std::string>(),
                                     std::nullopt, true);
      finished = "APPROVED";
      Wake();
      break;
    case PollAction::kDenied:
      log::Info("backchannel authentication denied", fields);
      result = store_.RecordFinished(row.id, owner_, "DENIED", "DENIED", "", ErrorOf(a), true);
      finished = "DENIED";
      Wake();
      break;
    case PollAction::kExpired:
      log::Info("backchannel authentication expired", fields);
      result = store_.RecordFinished(row.id, owner_, "EXPIRED", "EXPIRED", "", ErrorOf(a), true);
      finished = "EXPIRED";
      Wake();
      break;
    case PollAction::kLost:
      log::Warn(
          "the provider no longer knows the backchannel authentication (invalid_grant before its expiry); "
          "reported as LOST so the authority asks again",
          fields);
      result = store_.RecordFinished(row.id, owner_, "LOST", "LOST", "", ErrorOf(a), true);
      finished = "LOST";
      Wake();
      break;
    case PollAction::kFailed: {
      ProviderAnswer recorded = a;
      if (recorded.error.empty()) {
        recorded.error = "bad_response";
        recorded.error_description = "token response without an id_token";
      }
      fields["provider_error"] = recorded.error;
      log::Warn("backchannel authentication failed at the provider", fields);
      result = store_.RecordFinished(row.id, owner_, "FAILED", "ERROR", "", ErrorOf(recorded), true);
      finished = "FAILED";
      Wake();
      break;
    }
  }
  if (!result.ok()) {
    log::Warn("cannot record poll result", {{"id", row.id}, {"error", std::string(result.status().message())}});
  } else if (!finished.empty()) {
    metrics_.Finished(finished);
  }
}

void CibaEngine::Deliver(const CibaRequestRow& row) {
  authority::v1::CompleteApprovalRequest req;
  req.set_approval_id(row.approval_id);
  req.set_auth_req_id(row.auth_req_id.value_or(""));
  req.set_outcome(OutcomeEnum(row.outcome.value_or("ERROR")));
  if (row.outcome == "APPROVED") {
    req.set_id_token(row.id_token.value_or(""));
  } else {
    req.set_provider_error(row.provider_error.value_or(""));
    req.set_provider_error_description(row.provider_error_description.value_or(""));
  }
  if (row.receive_time) {
    *req.mutable_receive_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(*row.receive_time));
  }
  const absl::Status st = authority_.CompleteApproval(req);
  nlohmann::json fields = {{"id", row.id},
                           {"approval_id", row.approval_id},
                           {"outcome", row.outcome.value_or("")},
                           {"attempt", row.delivery_attempts + 1}};
  absl::Status recorded;
  if (st.ok()) {
    log::Info("result delivered to the authority", fields);
    metrics_.Delivery("delivered");
    recorded = store_.RecordDelivered(row.id, owner_);
  } else {
    const std::string error =
        absl::StrCat(absl::StatusCodeToString(st.code()), ": ", GetReason(st).value_or(""), " ", st.message());
    fields["code"] = absl::StatusCodeToString(st.code());
    fields["reason"] = GetReason(st).value_or("");
    fields["message"] = std::string(st.message());
    if (IsRetryableDeliveryError(st)) {
      const absl::Duration delay = Backoff(row.delivery_attempts + 1, config_.max_backoff);
      fields["retry_in_ms"] = absl::ToInt64Milliseconds(delay);
      log::Warn("authority unavailable; result kept for redelivery", fields);
      metrics_.Delivery("retry");
      recorded = store_.RecordDeliveryRetry(row.id, owner_, error, delay);
    } else {
      log::Error("authority refused the result; not retried", fields);
      metrics_.Delivery("rejected");
      recorded = store_.RecordDeliveryRejected(row.id, owner_, error);
    }
  }
  if (!recorded.ok()) {
    log::Warn("cannot record delivery", {{"id", row.id}, {"error", std::string(recorded.message())}});
  }
}

}  // namespace cantdo::bridge
