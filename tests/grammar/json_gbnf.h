/* A generic JSON grammar in GBNF (compact: no whitespace), shared by the Qwen3 test and the mask
 * benchmark. */
#ifndef BERTH_TEST_JSON_GBNF_H
#define BERTH_TEST_JSON_GBNF_H
static const char json_gbnf[] =
    "root ::= object\n"
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
    "object ::= \"{\" ( string \":\" value (\",\" string \":\" value)* )? \"}\"\n"
    "array ::= \"[\" ( value (\",\" value)* )? \"]\"\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) "
    ")* \"\\\"\"\n"
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?\n";
static const char json_doc[] =
    "{\"name\":\"Ada "
    "Lovelace\",\"age\":36,\"born\":\"1815-12-10\",\"tags\":[\"math\",\"poetry\",\"é世😀\"],"
    "\"address\":{\"city\":\"London\",\"zip\":null,\"lat\":51.5074,\"lon\":-0.1278e0},\"alive\":"
    "false,"
    "\"quote\":\"That brain of mine is something more than merely mortal; as time will show.\\n\"}";
#endif
