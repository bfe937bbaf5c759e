#pragma once
// Fail points: named places where a process can be made to die, for
// crash-recovery tests of the real binaries. Off unless the environment
// variable CANTDO_FAILPOINT names the point; then the process SIGKILLs
// itself on reaching it (no cleanup, exactly like a crash). A fail point
// only ever ends the process: it never skips or alters a check.
//
// Points:
//   authority.claim.after_credential_created   a claim's execution
//       credential exists, its claim has not committed
//   authority.consume.after_credential_disabled   a consume committed and
//       disabled its grant's credential, which is not yet dropped
//   offboarding.issue_refund.after_write, offboarding.erase_customer_data.after_write
//       (the worker: the write is done with the grant's credential, the
//       grant is CLAIMED, not yet consumed)

#include <string>

namespace cantdo {

void FailPoint(const std::string& name);

}  // namespace cantdo
