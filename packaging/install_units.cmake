# Runs at install time (cmake --install, and CPack's staging): writes the systemd units with
# ExecStart naming the binary where it is being installed, ${CMAKE_INSTALL_PREFIX}/bin/snapkeep
# (/usr/bin for the .deb). Set by the caller: SNAPKEEP_UNIT_SOURCES (the .in files), SNAPKEEP_UNIT_DIR
# and SNAPKEEP_EXAMPLE_DIR (relative to the prefix).
set(SNAPKEEP_BIN "${CMAKE_INSTALL_PREFIX}/bin/snapkeep")
foreach(source IN LISTS SNAPKEEP_UNIT_SOURCES)
  get_filename_component(name "${source}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  if(name MATCHES "example")
    set(target "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${SNAPKEEP_EXAMPLE_DIR}/snapkeep-plugged-usb.service")
  else()
    set(target "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${SNAPKEEP_UNIT_DIR}/${name}")
  endif()
  message(STATUS "Installing: ${target}")
  configure_file("${source}" "${target}" @ONLY)
endforeach()
