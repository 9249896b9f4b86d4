#include <stdio.h>
#include "qforge/core.h"
int main(void) { printf("qforge %s\n", QF_VERSION_STRING); return 0; }
