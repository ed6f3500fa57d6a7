# WeftPkgConfig.cmake - writes weft.pc at install time (see CMakeLists.txt).
# In: WEFT_PC_TEMPLATE, WEFT_PC_OUT, WEFT_PC_VERSION, WEFT_PC_DESCRIPTION,
# WEFT_PC_LIBDIR_REL, WEFT_PC_INCLUDEDIR_REL and CMAKE_INSTALL_PREFIX.
set(WEFT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(_d LIBDIR INCLUDEDIR)
	if(IS_ABSOLUTE "${WEFT_PC_${_d}_REL}")
		set(WEFT_PC_${_d} "${WEFT_PC_${_d}_REL}")
	else()
		set(WEFT_PC_${_d} "\${prefix}/${WEFT_PC_${_d}_REL}")
	endif()
endforeach()
configure_file("${WEFT_PC_TEMPLATE}" "${WEFT_PC_OUT}" @ONLY)
