/*
 * weft.h - tasks and jobs for C.  Include this for the whole API.
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/error.h"
#include "weft/cancel.h"
#include "weft/task.h"
#include "weft/sched.h"
#include "weft/parallel.h"
#include "weft/compose.h"
#include "weft/promise.h"
#include "weft/factory.h"
#include "weft/context.h"
#include "weft/io.h"

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

#endif
