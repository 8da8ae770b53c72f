# Turns web/index.html into a C++ source so a single herald binary serves the page.
file(READ ${WEB_DIR}/index.html content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE ${OUT} "// Generated from web/ by cmake/embed_web.cmake.\n#include \"server/web_assets.hpp\"\nnamespace herald {\nnamespace {\nconst char index_html[] = {${bytes}};\n}\nstd::string_view web_index_html() { return {index_html, sizeof(index_html)}; }\n}\n")
