// ismacrypdec: RTP enc-mpeg4-generic (ISMACryp 1.1) in, decrypted access units out (AAC raw with
// codec_data, or H.264 Annex B access units). TEKs come from the pipeline's keyring by key
// indicator (= TEK ID).
#pragma once

#include <gst/gst.h>
#include <gst/rtp/gstrtpbasedepayload.h>

G_BEGIN_DECLS

#define GST_TYPE_ISMACRYP_DEC (gst_ismacryp_dec_get_type())
G_DECLARE_FINAL_TYPE(GstIsmacrypDec, gst_ismacryp_dec, GST, ISMACRYP_DEC, GstRTPBaseDepayload)

GST_ELEMENT_REGISTER_DECLARE(ismacrypdec);

G_END_DECLS
