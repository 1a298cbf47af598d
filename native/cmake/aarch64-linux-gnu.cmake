# Cross-build for aarch64 Linux with Debian's g++-aarch64-linux-gnu; tests run
# under qemu-aarch64 (qemu-user-static or qemu-user) with the cross sysroot.
#   cmake -S native -B build/native-aarch64 -G Ninja \
#         --toolchain native/cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
find_program(SONOEDGE_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(SONOEDGE_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${SONOEDGE_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
endif()
