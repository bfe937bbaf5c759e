#include "authority/approval_limits.hpp"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d) { return absl::Seconds(d.seconds()); }

std::string RetryAfterSeconds(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1)))));
}

// The rate limit `limit` refuses when `recent` reached it.
absl::Status CheckRate(const v1::ApprovalRateLimit& limit, const RecentApprovals& recent, absl::Time now,
                       const char* reason, const std::string& message, const char* who_key, const std::string& who) {
  const absl::Duration window = FromProto(limit.window());
  if (limit.max_requests() <= 0 || recent.count < limit.max_requests() || recent.oldest <= now - window) {
    return absl::OkStatus();
  }
  absl::Status s = WithReason(absl::ResourceExhaustedError(message), reason);
  s = WithMetadata(std::move(s), who_key, who);
  s = WithMetadata(std::move(s), "limit", absl::StrCat(limit.max_requests()));
  s = WithMetadata(std::move(s), "window", absl::FormatDuration(window));
  return WithMetadata(std::move(s), "retry_after_seconds", RetryAfterSeconds(recent.oldest + window - now));
}

}  // namespace

std::string AccountablePrincipal(const Caller& caller, const std::string& requester) {
  return caller.on_behalf_of.empty() ? requester : caller.on_behalf_of;
}

absl::Time CooldownEnd(const v1::ApprovalLimits& limits, std::vector<absl::Time> denials) {
  if (limits.max_denials() <= 0) return absl::InfinitePast();
  const std::size_t run = static_cast<std::size_t>(limits.max_denials());
  const absl::Duration window = FromProto(limits.denial_window());
  std::sort(denials.begin(), denials.end());
  absl::Time end = absl::InfinitePast();
  for (std::size_t last = run - 1; last < denials.size(); ++last) {
    if (denials[last] - denials[last + 1 - run] <= window) {
      end = std::max(end, denials[last] + FromProto(limits.denial_cooldown()));
    }
  }
  return end;
}

absl::Status CheckLimits(const v1::ApprovalLimits& limits, const LimitFacts& facts, absl::Time now,
                         const std::string& accountable, const std::string& required_role) {
  const absl::Time cooldown_end = CooldownEnd(limits, facts.denials);
  if (now < cooldown_end) {
    absl::Status s =
        PermissionDenied("APPROVAL_DENIALS_COOLDOWN",
                         absl::StrCat("the ", required_role, " denied ", limits.max_denials(), " requests of ",
                                      accountable, " within ", absl::FormatDuration(FromProto(limits.denial_window())),
                                      "; no further requests of theirs reach that approver until ",
                                      absl::FormatTime(absl::RFC3339_sec, cooldown_end, absl::UTCTimeZone())));
    s = WithMetadata(std::move(s), "accountable", accountable);
    s = WithMetadata(std::move(s), "required_role", required_role);
    s = WithMetadata(std::move(s), "denials", absl::StrCat(limits.max_denials()));
    s = WithMetadata(std::move(s), "cooldown_until",
                     absl::FormatTime(absl::RFC3339_sec, cooldown_end, absl::UTCTimeZone()));
    return WithMetadata(std::move(s), "retry_after_seconds", RetryAfterSeconds(cooldown_end - now));
  }
  CANTDO_RETURN_IF_ERROR(
      CheckRate(limits.requester(), facts.requester, now, "APPROVAL_REQUESTER_RATE_LIMITED",
                absl::StrCat(accountable, " opened ", limits.requester().max_requests(), " approval requests within ",
                             absl::FormatDuration(FromProto(limits.requester().window())), "; retry later"),
                "accountable", accountable));
  if (limits.approver_max_pending() > 0 && facts.approver_pending >= limits.approver_max_pending()) {
    absl::Status s = WithReason(
        absl::ResourceExhaustedError(absl::StrCat("the ", required_role, " already has ", limits.approver_max_pending(),
                                                  " approval requests pending; retry once some are decided")),
        "APPROVAL_APPROVER_QUEUE_FULL");
    s = WithMetadata(std::move(s), "required_role", required_role);
    return WithMetadata(std::move(s), "limit", absl::StrCat(limits.approver_max_pending()));
  }
  return CheckRate(
      limits.approver(), facts.approver, now, "APPROVAL_APPROVER_RATE_LIMITED",
      absl::StrCat("the ", required_role, " was asked ", limits.approver().max_requests(), " times within ",
                   absl::FormatDuration(FromProto(limits.approver().window())), "; retry later"),
      "required_role", required_role);
}

}  // namespace cantdo::authority
