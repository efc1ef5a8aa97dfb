// The keyring shared inside one pipeline as GstContext "openbcast.keyring": tekdec puts TEKs in,
// bcastsrtpdec / ismacrypdec take them out by TEK ID (SRTP MKI, ISMACryp key indicator).
// Thread-safe: producers and consumers run in different streaming threads.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define BCAST_KEYRING_CONTEXT_TYPE "openbcast.keyring"

#define BCAST_TYPE_KEYRING (bcast_keyring_get_type())
G_DECLARE_FINAL_TYPE(BcastKeyring, bcast_keyring, BCAST, KEYRING, GObject)

// One TEK as the media decryptors need it.
typedef struct {
  guint16 id;              // traffic_key_id
  guint8 key[16];          // TEK = SRTP master key / ISMACryp key
  guint8 salt[14];         // SRTP master salt (zeros when the STKM had none)
  guint16 lifetime_s;      // traffic_key_lifetime: valid this long after first use
  guint8 protocol;         // traffic_protection_protocol (1 SRTP, 2 ISMACryp)
  gboolean authenticated;  // traffic_authentication_flag
  // Smartcard Profile: the MSK the MTK (TEK) was derived under; the SRTP MKI is then
  // MSK ID (4) ‖ MTK ID (2) with `id` the MTK ID. 0 for DRM Profile TEKs (MKI = TEK ID).
  guint32 msk_id;
} BcastTek;

// The 64-bit key ID a decryptor reads from a packet: (msk_id << 16) | id, i.e. the TEK ID for
// DRM Profile TEKs and the 48-bit MKI MSK ID ‖ MTK ID for Smartcard Profile TEKs.
static inline guint64 bcast_tek_key_id(const BcastTek* tek) {
  return ((guint64)tek->msk_id << 16) | tek->id;
}

BcastKeyring* bcast_keyring_new(void);

// Adds or refreshes a TEK (keyed by MSK ID and TEK ID). Emits "tek-added" (guint id: the TEK /
// MTK ID) when the key ID was not held before or now names a different key, from the
// calling thread and without the keyring lock held. Keys whose lifetime ended since first use are
// dropped here; at most 16 TEKs are held (the oldest go first).
void bcast_keyring_add(BcastKeyring* keyring, const BcastTek* tek);

// Copies the TEK with `id` (and msk_id 0) into *out; marks its first use. FALSE when unknown or
// expired.
gboolean bcast_keyring_lookup(BcastKeyring* keyring, guint16 id, BcastTek* out);
// The same by 64-bit key ID (bcast_tek_key_id: a 6-byte Smartcard Profile MKI, or a TEK ID).
gboolean bcast_keyring_lookup_key(BcastKeyring* keyring, guint64 key_id, BcastTek* out);

// Number of distinct TEK IDs ever added (for stats/reports).
guint bcast_keyring_get_n_added(BcastKeyring* keyring);

GstContext* bcast_keyring_context_new(BcastKeyring* keyring);
// Transfer full, or NULL when the context is not an openbcast.keyring.
BcastKeyring* bcast_keyring_from_context(GstContext* context);

// For elements: run from change_state NULL→READY. Returns (transfer full) the keyring of the
// pipeline: one already set on the element (via set_context), one found by a context query
// up/downstream or the NEED_CONTEXT bus message, or a new one announced with HAVE_CONTEXT so every
// other element of the pipeline gets the same keyring.
// Elements that hold a keyring must implement GstElement::set_context, take the keyring from an
// "openbcast.keyring" context there and chain up (the parent stores the context, which is how
// bcast_keyring_obtain() and the query handler below find it).
BcastKeyring* bcast_keyring_obtain(GstElement* element);

// For elements' pad/element query handlers: answers a GST_QUERY_CONTEXT for "openbcast.keyring"
// with the context set on `element`. TRUE when answered; FALSE for any other query.
gboolean bcast_keyring_handle_context_query(GstElement* element, GstQuery* query);

G_END_DECLS
