# Cross-compiles for 64-bit Arm Linux (the users' boards) with Debian's
# g++-aarch64-linux-gnu and the arm64 multiarch -dev packages (protobuf,
# Boost, Highway, seccomp, GoogleTest); Nerves toolchains work the same way:
#   PELEMAY_BUILD_DIR=build-arm64 scripts/build \
#     -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/aarch64-linux-gnu.cmake -DPELEMAY_BUILD_BENCH=OFF
# (Google Benchmark and OpenBLAS are host-only baselines.) CTest runs the
# suites through the emulator below; it needs a qemu-aarch64 whose threads
# work on the host kernel (Debian 12's qemu 7.2 hangs on the first thread it
# starts under the 6.18 kernel of the development VM, so no suite runs there).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# The host's protoc generates the code; the target's libprotobuf links it.
set(Protobuf_PROTOC_EXECUTABLE /usr/bin/protoc CACHE FILEPATH "host protoc")
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/aarch64-linux-gnu)
