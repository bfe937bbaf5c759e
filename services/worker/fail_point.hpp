#pragma once
// Fail points: named places where the process can be made to die, for
// crash-recovery tests of the real binary. Off unless the environment
// variable CANTDO_FAILPOINT names the point; then the process SIGKILLs
// itself on reaching it (no cleanup, exactly like a crash). A fail point
// only ever ends the process: it never skips or alters a check.
//
// Points: offboarding.issue_refund.after_write (the refund is written with
// the grant's credential, the grant is CLAIMED, not yet consumed),
// offboarding.erase_customer_data.after_write.

#include <string>

namespace cantdo::worker {

void FailPoint(const std::string& name);

}  // namespace cantdo::worker
