/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * How values show to apps (DESIGN §5): tostring text in which a table,
 * function, thread or userdata carries a per-process sequence number
 * instead of its heap address, for tostring, print and string.format's %s
 * and %p. The numbers live in a weak-keyed registry table, so numbering an
 * object does not keep it alive.
 *
 * Ownership: the table lives in the Lua state. Loop thread only.
 */
#ifndef ENCLAVED_DISPLAY_H
#define ENCLAVED_DISPLAY_H

#include <lua.h>

/* Creates the state's numbering table. Once per state. [-0, +0, m] */
void display_open(lua_State *L);
/* Pushes tostring(v) for the value at index i as apps see it: __tostring
 * when present, else the stock text, except that a table, function, thread
 * or userdata shows a per-process sequence number ("table: #3") instead of
 * its address. [-0, +1, e] */
void display_tolstring(lua_State *L, int i);
/* Pushes what string.format's %p shows for the value at i: "#n" for a
 * table, function, thread or userdata, "(null)" for anything else.
 * [-0, +1, m] */
void display_pointer_text(lua_State *L, int i);


#endif
