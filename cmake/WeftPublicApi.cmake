# weft_public_functions(<out-var> <include-dir>)
#
# The names of the functions the public headers declare with WEFT_API, in
# header order (include/weft.h, then include/weft/*.h sorted).  Used by the
# tests that check every one of them links and is exported, and nothing else
# is.  Works in project mode and in script mode (cmake -P).
function(weft_public_functions out incdir)
	file(GLOB _hdrs "${incdir}/weft/*.h")
	list(SORT _hdrs)
	set(_names "")
	foreach(_h "${incdir}/weft.h" ${_hdrs})
		file(READ "${_h}" _text)
		# Comments may say WEFT_API too; drop them.  Semicolons would
		# split the text into a CMake list; neutralise them first.
		string(REPLACE ";" "," _text "${_text}")
		string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" " " _text "${_text}")
		# Preprocessor lines too (#define WEFT_API ...), continuations
		# joined first.
		string(REGEX REPLACE "\\\\\n" " " _text "${_text}")
		string(REGEX REPLACE "(^|\n)[ \t]*#[^\n]*" "\\1" _text "${_text}")
		string(REGEX MATCHALL "WEFT_API[ \t\r\n]+[^,(]*\\(" _decls "${_text}")
		foreach(_d IN LISTS _decls)
			string(REGEX REPLACE ".*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*\\($"
			       "\\1" _n "${_d}")
			if(NOT _n MATCHES "^__")
				list(APPEND _names "${_n}")
			endif()
		endforeach()
	endforeach()
	set(${out} "${_names}" PARENT_SCOPE)
endfunction()
