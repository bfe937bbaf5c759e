// The engine's tables only through libs/workflow.
const char* kSql = "SELECT run_id FROM cantdo.workflow_runs WHERE state = 1";
