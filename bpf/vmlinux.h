/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Trimmed, vendored kernel types for the NAT hook (bpf/nat.bpf.c).
 *
 * Derived from `bpftool btf dump file /sys/kernel/btf/vmlinux format c` and
 * cut down by hand to the types and fields bpf/lib/nat_ct.h reads. Every
 * record carries preserve_access_index, so field offsets, array strides and
 * field existence are CO-RE relocations resolved by libbpf against the
 * running kernel's BTF (for struct nf_conn: the nf_conntrack module BTF).
 * That is why members can be left out and why the build never needs the
 * build host's /sys/kernel/btf. Do not rely on sizeof() of these structs.
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
#endif

typedef signed char __s8;
typedef unsigned char __u8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u8 u_int8_t;
typedef __u16 u_int16_t;
typedef __u32 u_int32_t;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

enum {
	false = 0,
	true = 1,
};

/* Map definitions (uapi values, stable). */
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 10,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

/* x86-64 register frame: kprobe context, read through PT_REGS_PARMn. */
struct pt_regs {
	long unsigned int r15;
	long unsigned int r14;
	long unsigned int r13;
	long unsigned int r12;
	long unsigned int bp;
	long unsigned int bx;
	long unsigned int r11;
	long unsigned int r10;
	long unsigned int r9;
	long unsigned int r8;
	long unsigned int ax;
	long unsigned int cx;
	long unsigned int dx;
	long unsigned int si;
	long unsigned int di;
	long unsigned int orig_ax;
	long unsigned int ip;
	long unsigned int cs;
	long unsigned int flags;
	long unsigned int sp;
	long unsigned int ss;
};

/* The packet's conntrack entry (nf_conn pointer | ctinfo in the low 3 bits). */
struct sk_buff {
	long unsigned int _nfct;
};

/* Only passed through (__nf_conntrack_alloc's first argument). */
struct net;

struct in_addr {
	__be32 s_addr;
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
};

union nf_inet_addr {
	__u32 all[4];
	__be32 ip;
	__be32 ip6[4];
	struct in_addr in;
	struct in6_addr in6;
};

union nf_conntrack_man_proto {
	__be16 all;
	struct {
		__be16 port;
	} tcp;
	struct {
		__be16 port;
	} udp;
	struct {
		__be16 id;
	} icmp;
	struct {
		__be16 port;
	} dccp;
	struct {
		__be16 port;
	} sctp;
	struct {
		__be16 key;
	} gre;
};

struct nf_conntrack_man {
	union nf_inet_addr u3;
	union nf_conntrack_man_proto u;
	u_int16_t l3num;
};

struct nf_conntrack_tuple {
	struct nf_conntrack_man src;
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
			struct {
				__be16 port;
			} tcp;
			struct {
				__be16 port;
			} udp;
			struct {
				u_int8_t type;
				u_int8_t code;
			} icmp;
			struct {
				__be16 port;
			} dccp;
			struct {
				__be16 port;
			} sctp;
			struct {
				__be16 key;
			} gre;
		} u;
		u_int8_t protonum;
		u_int8_t dir;
	} dst;
};

/* hnnode (struct hlist_nulls_node) left out: never read. */
struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
};

/* Absent from kernels built without CONFIG_NF_CONNTRACK_ZONES. */
struct nf_conntrack_zone {
	u16 id;
	u8 flags;
	u8 dir;
};

/*
 * Conntrack extensions (nf_conntrack_extend.h): offset[id] is where
 * extension id starts inside the area, 0 when absent. The array's length
 * (NF_CT_EXT_NUM) and the ids depend on the kernel configuration, hence
 * bpf_core_enum_value() for the ids; 6.1 has a gen_id member after len that
 * 6.12 dropped, which offset[] does not care about.
 */
struct nf_ct_ext {
	u8 offset[16];
};

enum nf_ct_ext_id {
	NF_CT_EXT_ACCT = 3,
	NF_CT_EXT_TSTAMP = 5,
};

typedef struct {
	s64 counter;
} atomic64_t;

struct nf_conn_counter {
	atomic64_t packets;
	atomic64_t bytes;
};

struct nf_conn_acct {
	struct nf_conn_counter counter[2];
};

struct nf_conn_tstamp {
	u64 start;
	u64 stop;
};

/* Only the members the NAT hook reads; the rest are relocated around. */
struct nf_conn {
	struct nf_conntrack_zone zone;
	struct nf_conntrack_tuple_hash tuplehash[2];
	long unsigned int status;
	struct nf_ct_ext *ext;
};

enum ip_conntrack_dir {
	IP_CT_DIR_ORIGINAL = 0,
	IP_CT_DIR_REPLY = 1,
	IP_CT_DIR_MAX = 2,
};

enum nf_nat_manip_type {
	NF_NAT_MANIP_SRC = 0,
	NF_NAT_MANIP_DST = 1,
};

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
