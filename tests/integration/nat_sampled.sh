#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The NAT scenarios with packet sampling 1:3: the NAT path records every
# translation whatever the flow path keeps, so every flow that survives
# sampling still carries exactly its connection's translation.
XF_SAMPLING=3 exec bash "$(dirname "$0")/nat_scenarios.sh"
