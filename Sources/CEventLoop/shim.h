#ifndef WARDFLEET_CEVENTLOOP_SHIM_H
#define WARDFLEET_CEVENTLOOP_SHIM_H
/* Linux event primitives the shared MQTT network loop waits on. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
