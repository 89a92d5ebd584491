# SPDX-License-Identifier: GPL-2.0-only
# Scaling curves of `make bench` (bench/run.sh), one PNG with three panels.
#   gnuplot -e "dir='RESULTS_DIR'" bench/scaling.gp
# Reads dir/flowcache.dat (flows insert update expire bytes), dir/drain.dat (flows drain hash),
# dir/attach.dat (interfaces ms_per_interface); writes dir/scaling.png.
if (!exists("dir")) dir = "."
set terminal pngcairo size 1500,480 font ",10" noenhanced
set output dir."/scaling.png"
set multiplot layout 1,3 title "xlatflow scaling (".system("uname -r").")"
set grid
set key top left
set logscale x 10
set format x "%.0s%c"

set title "userspace flow cache (src/flowcache.c)"
set xlabel "flows in cache"
set ylabel "CPU ns per flow"
plot dir."/flowcache.dat" using 1:2 with linespoints title "insert", \
     "" using 1:3 with linespoints title "update", \
     "" using 1:4 with linespoints title "expire"

set yrange [0:*]
set key right center
set title "kernel flow transfer (src/drain.c)"
set xlabel "flows in the kernel"
set ylabel "ns per flow"
plot dir."/drain.dat" using 1:2 with linespoints title "drain_flows (slots read in place)", \
     "" using 1:3 with linespoints title "per-CPU hash, lookup_and_delete_batch"

set key top left
set title "attach (tc_hook_attach, tc clsact)"
set xlabel "interfaces attached"
set ylabel "ms per interface"
set yrange [0:*]
plot dir."/attach.dat" using 1:2 with linespoints title "attach time per interface"
unset multiplot
