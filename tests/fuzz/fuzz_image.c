/* PPM/PGM (P2 P3 P5 P6) and PFM (PF Pf) pictures (xai_image_load_memory), then what a loaded
   picture goes through: resize, crop, the 8-bit conversion and the PNG encoder. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    xai_image img, small, crop;
    unsigned char *u8, *png;
    size_t n;
    fuzz_set_budget(len);
    if (xai_image_load_memory(data, len, "fuzz.ppm", &img) != XAI_OK) {
        fuzz_need_reason(xai_failure_reason());
        if (img.data) abort();   /* a failed load leaves no pixels behind */
        return 0;
    }
    if (!img.data || img.w <= 0 || img.h <= 0 || (img.c != 1 && img.c != 3)) abort();
    if (xai_image_resize(&img, 7, 5, &small) == XAI_OK) {
        if ((u8 = xai_image_to_u8(&small)) != NULL) {
            if ((png = xai_png_encode(u8, small.w, small.h, small.c, &n)) != NULL) free(png);
            free(u8);
        }
        xai_image_free(&small);
    }
    if (xai_image_crop(&img, img.w / 3, img.h / 3, img.w - img.w / 3, img.h - img.h / 3, &crop) == XAI_OK) xai_image_free(&crop);
    xai_image_free(&img);
    return 0;
}
