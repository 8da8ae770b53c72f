// Compiles standalone Asio once (ASIO_SEPARATE_COMPILATION) instead of in every file.
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
