#ifndef WARDFLEET_CMOSQUITTO_SHIM_H
#define WARDFLEET_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
