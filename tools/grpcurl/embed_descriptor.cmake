# Turns a binary file into a C++ array: cantdo::grpcurl::kReflectionDescriptor.
file(READ ${INPUT} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUTPUT} "#include <cstddef>\nnamespace cantdo::grpcurl {\nextern const unsigned char kReflectionDescriptor[] = {${bytes}};\nextern const std::size_t kReflectionDescriptorSize = sizeof(kReflectionDescriptor);\n}\n")
