-- SPDX-License-Identifier: GPL-2.0-only
--
-- PostgreSQL schema for xlatflow's IPFIX through pmacct nfacctd's pgsql
-- plugin (templates/pmacct-postgresql/nfacctd.conf; docs/collectors.md,
-- "pmacct into PostgreSQL"). Run it in the database nfacctd writes to, as the
-- role nfacctd logs in as (which then owns the table), or as another role
-- followed by GRANT INSERT ON xlat_acct TO that role:
--
--   psql -d pmacct -f /usr/share/xlatflow/templates/pmacct-postgresql/schema.sql
--
-- Tested with PostgreSQL 15 and nfacctd 1.7.7 (Debian 12):
-- tests/integration/nat_pgsql.sh.
--
-- One column per primitive of the recipe's `aggregate` line: with
-- sql_optimize_clauses nfacctd names each built-in primitive's column as
-- pmacct's sql/README.pgsql maps it (src_host -> ip_src, post_nat_src_host
-- -> post_nat_ip_src, peer_src_ip -> peer_ip_src, ...) and each custom
-- primitive's column after its name in templates/pmacct-primitives.lst. A
-- primitive of `aggregate` without its column here makes every write fail;
-- a column here that nfacctd does not write keeps its default.
--
-- The recipe writes with COPY, never UPDATE (sql_dont_try_update,
-- sql_use_copy): one row per flow key, translation and purge, the purges of
-- one time bin (stamp_inserted, sql_history) adding rows rather than
-- updating them. So there is no primary key, and queries sum packets and
-- bytes (the view below is the shape to query).

CREATE TABLE xlat_acct (
	-- the exporter (the node's address as the collector sees it)
	peer_ip_src inet NOT NULL DEFAULT '0.0.0.0',
	-- the flow key as observed
	ip_src inet NOT NULL DEFAULT '0.0.0.0',
	ip_dst inet NOT NULL DEFAULT '0.0.0.0',
	port_src INT NOT NULL DEFAULT 0,
	port_dst INT NOT NULL DEFAULT 0,
	ip_proto SMALLINT NOT NULL DEFAULT 0,
	-- post-NAT (IEs 225-228, nfacctd's built-ins): text, because nfacctd
	-- writes '' (not an address) where a flow has none (IPv6 flows,
	-- untranslated flows)
	post_nat_ip_src VARCHAR(45) NOT NULL DEFAULT '',
	post_nat_ip_dst VARCHAR(45) NOT NULL DEFAULT '',
	post_nat_port_src INT NOT NULL DEFAULT 0,
	post_nat_port_dst INT NOT NULL DEFAULT 0,
	-- custom primitives (templates/pmacct-primitives.lst): IPv6 post-NAT
	-- (281, 282) and the xlatflow enterprise elements; '0.0.0.0', '::' and
	-- 0 where a flow has none
	post_nat_src_ipv6 inet NOT NULL DEFAULT '::',
	post_nat_dst_ipv6 inet NOT NULL DEFAULT '::',
	xlat_zone INT NOT NULL DEFAULT 0,
	xlat_observed SMALLINT NOT NULL DEFAULT 0,
	xlat_type SMALLINT NOT NULL DEFAULT 0,
	xlat_pre_src_host inet NOT NULL DEFAULT '0.0.0.0',
	xlat_pre_dst_host inet NOT NULL DEFAULT '0.0.0.0',
	xlat_pre_src_ipv6 inet NOT NULL DEFAULT '::',
	xlat_pre_dst_ipv6 inet NOT NULL DEFAULT '::',
	xlat_pre_src_port INT NOT NULL DEFAULT 0,
	xlat_pre_dst_port INT NOT NULL DEFAULT 0,
	-- counters: pmacct's packets, bytes; its time bin (sql_history)
	packets BIGINT NOT NULL,
	bytes BIGINT NOT NULL,
	stamp_inserted timestamp without time zone NOT NULL DEFAULT '0001-01-01 00:00:00',
	stamp_updated timestamp without time zone
);

-- Rows arrive in time order: a BRIN index on the bin is a few pages for
-- billions of rows, and is what a time-window query needs.
CREATE INDEX xlat_acct_stamp ON xlat_acct USING brin (stamp_inserted);

-- One shape for both families, NULL where a flow has no translation:
-- observed 1 = the flow key is the packet before NAT, 2 = after
-- (xlatObservationPoint); xlat_type bit 0 source NAT, bit 1 destination NAT;
-- pre_* and post_* are the flow's packets before and after NAT in its own
-- direction (docs/nat.md, "The four tuples of a translated connection").
CREATE VIEW xlat_flows AS
SELECT
	stamp_inserted,
	peer_ip_src AS exporter,
	ip_proto,
	ip_src,
	ip_dst,
	port_src,
	port_dst,
	NULLIF(xlat_observed, 0) AS observed,
	CASE WHEN xlat_observed > 0 THEN xlat_type END AS xlat_type,
	CASE WHEN xlat_observed > 0 THEN xlat_zone END AS zone,
	CASE WHEN xlat_observed = 0 THEN NULL
		WHEN family(ip_src) = 4 THEN xlat_pre_src_host ELSE xlat_pre_src_ipv6 END AS pre_src,
	CASE WHEN xlat_observed = 0 THEN NULL
		WHEN family(ip_src) = 4 THEN xlat_pre_dst_host ELSE xlat_pre_dst_ipv6 END AS pre_dst,
	CASE WHEN xlat_observed > 0 THEN xlat_pre_src_port END AS pre_sport,
	CASE WHEN xlat_observed > 0 THEN xlat_pre_dst_port END AS pre_dport,
	CASE WHEN xlat_observed = 0 THEN NULL
		WHEN family(ip_src) = 4 THEN NULLIF(post_nat_ip_src, '')::inet
		ELSE post_nat_src_ipv6 END AS post_src,
	CASE WHEN xlat_observed = 0 THEN NULL
		WHEN family(ip_src) = 4 THEN NULLIF(post_nat_ip_dst, '')::inet
		ELSE post_nat_dst_ipv6 END AS post_dst,
	CASE WHEN xlat_observed > 0 THEN post_nat_port_src END AS post_sport,
	CASE WHEN xlat_observed > 0 THEN post_nat_port_dst END AS post_dport,
	packets,
	bytes
FROM xlat_acct;
