# SPDX-License-Identifier: GPL-2.0-only
#
# Generate C from the enterprise IE registry (templates/xlatflow-ies.txt).
#   awk -v what=h -f gen-ie-registry.awk xlatflow-ies.txt > ie_registry.h
#   awk -v what=c -f gen-ie-registry.awk xlatflow-ies.txt > ie_registry.c
#   awk -v what=fb-h -f gen-ie-registry.awk xlatflow-ies.txt > ie_registry_fb.h
#   awk -v what=fb-c -f gen-ie-registry.awk xlatflow-ies.txt > ie_registry_fb.c
# ie_registry.[ch] is plain C, for code that must not need libfixbuf (the
# template tables, NetFlow v9): an IE_<NAME> id constant per element and a
# table of ids, names, lengths and integer flags. ie_registry_fb.[ch] is the
# libfixbuf side: one fbInfoElement_t per element with enterprise number 0,
# and ie_registry_add_to_model(), which stamps the configured PEN.
# Any malformed line stops the build with file:line.

function die(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

# xlatPostSourceIPv4Address -> XLAT_POST_SOURCE_IPV4_ADDRESS
function macro_name(name,    out, i, c, prev) {
	out = ""
	prev = ""
	for (i = 1; i <= length(name); i++) {
		c = substr(name, i, 1)
		if (c ~ /[A-Z]/ && prev ~ /[a-z0-9]/)
			out = out "_"
		out = out toupper(c)
		prev = c
	}
	return out
}

function c_string(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/"/, "\\\"", s)
	return "\"" s "\""
}

BEGIN {
	FS = "|"
	if (what != "h" && what != "c" && what != "fb-h" && what != "fb-c") {
		print "gen-ie-registry.awk: set -v what=h, c, fb-h or fb-c" > "/dev/stderr"
		failed = 1
		exit 1
	}

	# abstract data type -> length, libfixbuf type, integer (endian) flag
	dt_len["unsigned8"] = 1;  dt_fb["unsigned8"] = "FB_UINT_8";  dt_int["unsigned8"] = 1
	dt_len["unsigned16"] = 2; dt_fb["unsigned16"] = "FB_UINT_16"; dt_int["unsigned16"] = 1
	dt_len["unsigned32"] = 4; dt_fb["unsigned32"] = "FB_UINT_32"; dt_int["unsigned32"] = 1
	dt_len["unsigned64"] = 8; dt_fb["unsigned64"] = "FB_UINT_64"; dt_int["unsigned64"] = 1
	dt_len["ipv4Address"] = 4; dt_fb["ipv4Address"] = "FB_IP4_ADDR"; dt_int["ipv4Address"] = 1
	dt_len["ipv6Address"] = 16; dt_fb["ipv6Address"] = "FB_IP6_ADDR"; dt_int["ipv6Address"] = 0
	dt_len["macAddress"] = 6; dt_fb["macAddress"] = "FB_MAC_ADDR"; dt_int["macAddress"] = 0
	dt_len["dateTimeMilliseconds"] = 8; dt_fb["dateTimeMilliseconds"] = "FB_DT_MILSEC"
	dt_int["dateTimeMilliseconds"] = 1
	dt_len["string"] = "VARLEN"; dt_fb["string"] = "FB_STRING"; dt_int["string"] = 0
	dt_len["octetArray"] = "VARLEN"; dt_fb["octetArray"] = "FB_OCTET_ARRAY"
	dt_int["octetArray"] = 0

	sem["default"] = "FB_IE_DEFAULT"
	sem["quantity"] = "FB_IE_QUANTITY"
	sem["totalCounter"] = "FB_IE_TOTALCOUNTER"
	sem["deltaCounter"] = "FB_IE_DELTACOUNTER"
	sem["identifier"] = "FB_IE_IDENTIFIER"
	sem["flags"] = "FB_IE_FLAGS"

	unit["none"] = "0"
	unit["octets"] = "FB_UNITS_OCTETS"
	unit["packets"] = "FB_UNITS_PACKETS"
	unit["seconds"] = "FB_UNITS_SECONDS"
	unit["milliseconds"] = "FB_UNITS_MILLISECONDS"
	unit["ports"] = "FB_UNITS_PORTS"
	n = 0
}

/^[ \t]*(#|$)/ { next }

{
	if (NF != 6)
		die("expected 6 fields separated by |, found " NF)
	id = trim($1); name = trim($2); type = trim($3)
	semantics = trim($4); units = trim($5); desc = trim($6)
	if (id !~ /^[0-9]+$/ || id + 0 < 1 || id + 0 > 32767)
		die("element id must be 1..32767: " id)
	if (name !~ /^[a-z][A-Za-z0-9]*$/)
		die("element name must be lowerCamelCase: " name)
	if (!(type in dt_len))
		die("unsupported abstract data type: " type)
	if (!(semantics in sem))
		die("unsupported data type semantics: " semantics)
	if (!(units in unit))
		die("unsupported units: " units)
	if (desc == "")
		die("missing description")
	if ((id + 0) in seen_id)
		die("duplicate element id " id)
	if (name in seen_name)
		die("duplicate element name " name)
	seen_id[id + 0] = 1
	seen_name[name] = 1
	n++
	e_id[n] = id + 0; e_name[n] = name; e_type[n] = type
	e_sem[n] = semantics; e_units[n] = units; e_desc[n] = desc
}

# The length of element i in C, in the plain table (prefix IE_REGISTRY_) or for libfixbuf (FB_IE_).
function c_len(i, prefix) {
	return dt_len[e_type[i]] == "VARLEN" ? prefix "VARLEN" : dt_len[e_type[i]]
}

END {
	if (failed)
		exit 1
	if (n == 0) {
		print "gen-ie-registry.awk: no elements" > "/dev/stderr"
		exit 1
	}
	print "/* SPDX-License-Identifier: GPL-2.0-only */"
	print "/* Generated from templates/xlatflow-ies.txt by templates/gen-ie-registry.awk: do not edit. */"
	if (what == "h") {
		print "#ifndef XF_IE_REGISTRY_H"
		print "#define XF_IE_REGISTRY_H"
		print ""
		print "#include <stdbool.h>"
		print "#include <stdint.h>"
		print ""
		print "/* Element ids (without the enterprise bit) of the xlatflow elements. */"
		for (i = 1; i <= n; i++)
			printf "#define IE_%s %d\n", macro_name(e_name[i]), e_id[i]
		print ""
		printf "#define IE_REGISTRY_COUNT %d\n", n
		print ""
		print "/* The length of a variable-length element (RFC 7011 7). */"
		print "#define IE_REGISTRY_VARLEN 65535"
		print ""
		print "/* One element, as both encoders need it; no libfixbuf types. */"
		print "struct ie_registry_element {"
		print "\tuint16_t id;"
		print "\tconst char *name;"
		print "\tuint16_t len; /* IE_REGISTRY_VARLEN for strings and octet arrays */"
		print "\tbool integer; /* integers and IPv4 addresses: big-endian on the wire */"
		print "};"
		print ""
		print "/* The elements in file order. */"
		print "extern const struct ie_registry_element ie_registry[IE_REGISTRY_COUNT];"
		print ""
		print "#endif"
		exit 0
	}
	if (what == "c") {
		print "#include \"ie_registry.h\""
		print ""
		print "const struct ie_registry_element ie_registry[IE_REGISTRY_COUNT] = {"
		for (i = 1; i <= n; i++)
			printf "\t{ IE_%s, %s, %s, %s },\n", macro_name(e_name[i]), c_string(e_name[i]), \
				c_len(i, "IE_REGISTRY_"), dt_int[e_type[i]] ? "true" : "false"
		print "};"
		exit 0
	}
	if (what == "fb-h") {
		print "#ifndef XF_IE_REGISTRY_FB_H"
		print "#define XF_IE_REGISTRY_FB_H"
		print ""
		print "#include <stdint.h>"
		print "#include <fixbuf/public.h>"
		print ""
		print "#include \"ie_registry.h\""
		print ""
		print "/*"
		print " * The elements as libfixbuf definitions, enterprise number 0, in file order;"
		print " * terminated by FB_IE_NULL (so IE_REGISTRY_COUNT + 1 entries)."
		print " */"
		print "extern const fbInfoElement_t ie_registry_elements[IE_REGISTRY_COUNT + 1];"
		print ""
		print "/* Add every element to model under enterprise number pen. */"
		print "void ie_registry_add_to_model(fbInfoModel_t *model, uint32_t pen);"
		print ""
		print "#endif"
		exit 0
	}
	print "#include \"ie_registry_fb.h\""
	print ""
	print "const fbInfoElement_t ie_registry_elements[IE_REGISTRY_COUNT + 1] = {"
	for (i = 1; i <= n; i++) {
		flags = sem[e_sem[i]]
		if (unit[e_units[i]] != "0")
			flags = flags " | " unit[e_units[i]]
		if (dt_int[e_type[i]])
			flags = flags " | FB_IE_F_ENDIAN"
		printf "\tFB_IE_INIT_FULL(%s, 0, IE_%s, %s, %s, 0, 0, %s,\n", \
			c_string(e_name[i]), macro_name(e_name[i]), c_len(i, "FB_IE_"), flags, dt_fb[e_type[i]]
		printf "\t\t\t%s),\n", c_string(e_desc[i])
	}
	print "\tFB_IE_NULL,"
	print "};"
	print ""
	print "void ie_registry_add_to_model(fbInfoModel_t *model, uint32_t pen)"
	print "{"
	print "\tfor (int i = 0; i < IE_REGISTRY_COUNT; i++) {"
	print "\t\tfbInfoElement_t ie = ie_registry_elements[i];"
	print ""
	print "\t\tie.ent = pen;"
	print "\t\tfbInfoModelAddElement(model, &ie);"
	print "\t}"
	print "}"
}
