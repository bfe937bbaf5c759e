// Tools too.
const char* kSql = "DELETE FROM cantdo.activity_tasks";
