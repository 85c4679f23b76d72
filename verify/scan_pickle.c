/* scan_pickle.c: placeholder until formats/lb_pickle.h lands. */
#include "lb_scan.h"

int lb_scan_pickles(lb_scan_file *r, lb_src *src, const uint8_t *head, size_t n)
{
    (void)r; (void)src; (void)head; (void)n;
    return 0;
}
