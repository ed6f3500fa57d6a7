# CheckExports.cmake - cmake -DLIB=libweft.so -DNM=nm -DINCLUDE_DIR=include
#                      -P CheckExports.cmake
#
# The shared library must export every function the public headers declare
# with WEFT_API, and no other symbol of its own (hidden visibility keeps
# weft__ internals and static functions inside).  Names starting with '_' (_init,
# _fini, toolchain symbols) are not the library's and are ignored.
include("${CMAKE_CURRENT_LIST_DIR}/WeftPublicApi.cmake")

foreach(_v LIB NM INCLUDE_DIR)
	if(NOT ${_v})
		message(FATAL_ERROR "CheckExports: ${_v} not set")
	endif()
endforeach()

weft_public_functions(_declared "${INCLUDE_DIR}")
execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
		OUTPUT_VARIABLE _nm RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
	message(FATAL_ERROR "CheckExports: ${NM} failed on ${LIB}")
endif()
string(REGEX MATCHALL "[^\n]+" _lines "${_nm}")
set(_exported "")
foreach(_l IN LISTS _lines)
	# "0000000000001234 T name" (names may carry @VERSION)
	if(_l MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^ @]+)")
		set(_n "${CMAKE_MATCH_1}")
		if(NOT _n MATCHES "^_")
			list(APPEND _exported "${_n}")
		endif()
	endif()
endforeach()

set(_missing "${_declared}")
if(_exported)
	list(REMOVE_ITEM _missing ${_exported})
endif()
set(_extra "${_exported}")
if(_declared)
	list(REMOVE_ITEM _extra ${_declared})
endif()
list(LENGTH _declared _nd)
list(LENGTH _exported _ne)
message(STATUS "declared ${_nd} public functions; ${_ne} symbols exported")
if(_missing)
	list(JOIN _missing "\n  " _m)
	message(SEND_ERROR "declared in include/ but not exported:\n  ${_m}")
endif()
if(_extra)
	list(JOIN _extra "\n  " _x)
	message(SEND_ERROR "exported but not declared with WEFT_API in include/:\n  ${_x}")
endif()
if(_missing OR _extra)
	message(FATAL_ERROR "the exported symbols do not match the public API")
endif()
