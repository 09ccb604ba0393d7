#!/bin/sh
# module_state.sh NAME=CONFIG_SYMBOL... : print "NAME STATE" per module, where
# STATE is loaded (a loadable module in memory), builtin (compiled into the
# kernel) or absent. Reads only.
release=$(uname -r)
for arg in "$@"; do
    name=${arg%%=*} symbol=${arg#*=}
    if grep -q "^$name " /proc/modules 2>/dev/null; then
        state=loaded
    elif [ -d "/sys/module/$name" ]; then
        state=builtin
    elif grep -qE "/$name\.ko(\.[a-z]+)?$" "/lib/modules/$release/modules.builtin" 2>/dev/null; then
        state=builtin
    elif [ -n "$symbol" ] && [ "$symbol" != "$name" ] && {
        { [ -r /proc/config.gz ] && zcat /proc/config.gz | grep -qx "$symbol=y"; } ||
        grep -qsx "$symbol=y" "/boot/config-$release"; }; then
        state=builtin
    else
        state=absent
    fi
    echo "$name $state"
done
