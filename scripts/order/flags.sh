# The release build's flags, shared by build.sh and make-order.sh (sourced).
#
# -static-executable: one fully static binary (the Swift runtime, glibc, libstdc++ and
#   libseccomp linked in). Engines exec voidoci with their own environments, so it must not
#   need the Swift runtime .so's; and with nothing to load and relocate it starts in 0.9 ms
#   instead of 3.3. voidoci calls no NSS function (getpwnam and friends), which a static glibc
#   could only serve by dlopen.
# -use-ld=lld, -function-sections: lld places functions in the order of
#   scripts/order/voidoci.order (build.sh adds it), and each function of our modules and
#   dependencies gets its own section so it can be placed.
# -disable-concrete-type-metadata-mangled-name-accessors: code that needs the metadata of a
#   generic type (KeyedDecodingContainer<Spec.CodingKeys>, [String: String], ...) calls its
#   accessor with the witness tables, instead of asking the runtime to demangle the type's name,
#   which also looks every conformance up by scanning all of the binary's conformance records
#   (about 4,300 here, 15-100 us a scan, a dozen scans per run).
VOIDOCI_BUILD_FLAGS=(-c release --static-swift-stdlib -Xswiftc -static-executable -Xswiftc -use-ld=lld
  -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
  -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors)
