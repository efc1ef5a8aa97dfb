// The pipeline's TEK store (see keyring.h). Plain fixed-size arrays: at most 16 TEKs are held, so a
// linear scan under one mutex is cheaper than any map and needs no C++ object in the GObject.
#include "gst-plugins/bcastprotect/keyring.h"

#include <openssl/crypto.h>

#include <cstring>

GST_DEBUG_CATEGORY_STATIC(bcast_keyring_debug);
#define GST_CAT_DEFAULT bcast_keyring_debug

namespace {

constexpr guint kMaxTeks = 16;
// Expired keys remembered so that an STKM still repeating an expired TEK cannot bring it back.
constexpr guint kMaxExpired = 16;
constexpr const char* kContextField = "keyring";

struct Entry {
  BcastTek tek;
  guint64 serial;    // insertion order: the lowest goes first when the ring is full
  gint64 first_use;  // monotonic µs of the first lookup, 0 = not used yet
};

struct ExpiredKey {
  guint16 id;
  guint8 key[16];
};

}  // namespace

struct _BcastKeyring {
  GObject parent;

  GMutex lock;
  Entry entries[kMaxTeks];
  guint n_entries;
  ExpiredKey expired[kMaxExpired];
  guint n_expired;
  guint next_expired;  // ring position
  guint64 next_serial;
  guint8 seen[65536 / 8];  // TEK IDs ever added, for n_added
  guint n_added;
};

G_DEFINE_TYPE_WITH_CODE(BcastKeyring, bcast_keyring, G_TYPE_OBJECT,
                        GST_DEBUG_CATEGORY_INIT(bcast_keyring_debug, "bcastkeyring", 0,
                                                "openbcast TEK keyring"))

enum { SIGNAL_TEK_ADDED, LAST_SIGNAL };
static guint keyring_signals[LAST_SIGNAL];

static void bcast_keyring_finalize(GObject* object) {
  BcastKeyring* self = BCAST_KEYRING(object);
  OPENSSL_cleanse(self->entries, sizeof(self->entries));
  OPENSSL_cleanse(self->expired, sizeof(self->expired));
  g_mutex_clear(&self->lock);
  G_OBJECT_CLASS(bcast_keyring_parent_class)->finalize(object);
}

static void bcast_keyring_class_init(BcastKeyringClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->finalize = bcast_keyring_finalize;

  /**
   * BcastKeyring::tek-added:
   * @keyring: the keyring
   * @id: the TEK ID (SRTP MKI / ISMACryp key indicator) now available
   *
   * Emitted from the thread that added the TEK, without the keyring lock held, when a TEK ID
   * that was not held before becomes available. Decryptors holding back packets for an unknown
   * key use it to retry.
   */
  keyring_signals[SIGNAL_TEK_ADDED] =
      g_signal_new("tek-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void bcast_keyring_init(BcastKeyring* self) { g_mutex_init(&self->lock); }

BcastKeyring* bcast_keyring_new(void) {
  return BCAST_KEYRING(g_object_new(BCAST_TYPE_KEYRING, nullptr));
}

// Lifetime 0 in an STKM would make the key useless at once; it is taken as "no limit" instead.
static gboolean entry_expired(const Entry* entry, gint64 now) {
  if (entry->first_use == 0 || entry->tek.lifetime_s == 0) return FALSE;
  return now - entry->first_use >= static_cast<gint64>(entry->tek.lifetime_s) * G_USEC_PER_SEC;
}

static void remove_entry_locked(BcastKeyring* self, guint index) {
  OPENSSL_cleanse(&self->entries[index], sizeof(Entry));
  for (guint i = index + 1; i < self->n_entries; i++) self->entries[i - 1] = self->entries[i];
  self->n_entries--;
  OPENSSL_cleanse(&self->entries[self->n_entries], sizeof(Entry));
}

static void drop_expired_locked(BcastKeyring* self, gint64 now) {
  guint i = 0;
  while (i < self->n_entries) {
    Entry* entry = &self->entries[i];
    if (!entry_expired(entry, now)) {
      i++;
      continue;
    }
    GST_INFO("TEK %u expired (lifetime %u s since first use)", entry->tek.id,
             entry->tek.lifetime_s);
    ExpiredKey* slot = &self->expired[self->next_expired];
    slot->id = entry->tek.id;
    std::memcpy(slot->key, entry->tek.key, sizeof(slot->key));
    self->next_expired = (self->next_expired + 1) % kMaxExpired;
    if (self->n_expired < kMaxExpired) self->n_expired++;
    remove_entry_locked(self, i);
  }
}

static gboolean is_expired_key_locked(BcastKeyring* self, const BcastTek* tek) {
  for (guint i = 0; i < self->n_expired; i++) {
    if (self->expired[i].id == tek->id &&
        CRYPTO_memcmp(self->expired[i].key, tek->key, sizeof(tek->key)) == 0) {
      return TRUE;
    }
  }
  return FALSE;
}

void bcast_keyring_add(BcastKeyring* keyring, const BcastTek* tek) {
  g_return_if_fail(BCAST_IS_KEYRING(keyring));
  g_return_if_fail(tek != nullptr);

  gboolean is_new = FALSE;
  {
    g_mutex_lock(&keyring->lock);
    drop_expired_locked(keyring, g_get_monotonic_time());

    Entry* existing = nullptr;
    for (guint i = 0; i < keyring->n_entries; i++) {
      if (keyring->entries[i].tek.id == tek->id && keyring->entries[i].tek.msk_id == tek->msk_id) {
        existing = &keyring->entries[i];
      }
    }

    if (existing != nullptr) {
      // A repeat keeps its first-use time; a different key under the same ID (16-bit ID space
      // wrapped, or the head-end re-keyed) is a new key and starts its lifetime afresh.
      if (CRYPTO_memcmp(existing->tek.key, tek->key, sizeof(tek->key)) != 0 ||
          CRYPTO_memcmp(existing->tek.salt, tek->salt, sizeof(tek->salt)) != 0) {
        GST_INFO("TEK %u replaced by a different key", tek->id);
        existing->tek = *tek;
        existing->first_use = 0;
        existing->serial = keyring->next_serial++;
        // Announced like a new TEK: decryptors holding packets under this ID, or a stale copy of
        // the old key, must look again (a restarted head-end numbers its TEKs from 1 again).
        is_new = TRUE;
      } else {
        existing->tek.lifetime_s = tek->lifetime_s;
        existing->tek.protocol = tek->protocol;
        existing->tek.authenticated = tek->authenticated;
      }
    } else if (is_expired_key_locked(keyring, tek)) {
      GST_DEBUG("TEK %u already expired, not taken again", tek->id);
    } else {
      if (keyring->n_entries == kMaxTeks) {
        guint oldest = 0;
        for (guint i = 1; i < keyring->n_entries; i++) {
          if (keyring->entries[i].serial < keyring->entries[oldest].serial) oldest = i;
        }
        GST_INFO("keyring full, dropping TEK %u", keyring->entries[oldest].tek.id);
        remove_entry_locked(keyring, oldest);
      }
      Entry* entry = &keyring->entries[keyring->n_entries++];
      entry->tek = *tek;
      entry->first_use = 0;
      entry->serial = keyring->next_serial++;
      is_new = TRUE;
      guint8 bit = static_cast<guint8>(1u << (tek->id % 8));
      if ((keyring->seen[tek->id / 8] & bit) == 0) {
        keyring->seen[tek->id / 8] |= bit;
        keyring->n_added++;
      }
      GST_DEBUG("TEK %u added (protocol %u, lifetime %u s), %u held", tek->id, tek->protocol,
                tek->lifetime_s, keyring->n_entries);
    }
    g_mutex_unlock(&keyring->lock);
  }

  if (is_new) g_signal_emit(keyring, keyring_signals[SIGNAL_TEK_ADDED], 0, (guint)tek->id);
}

gboolean bcast_keyring_lookup(BcastKeyring* keyring, guint16 id, BcastTek* out) {
  return bcast_keyring_lookup_key(keyring, id, out);
}

gboolean bcast_keyring_lookup_key(BcastKeyring* keyring, guint64 key_id, BcastTek* out) {
  g_return_val_if_fail(BCAST_IS_KEYRING(keyring), FALSE);
  g_return_val_if_fail(out != nullptr, FALSE);

  gboolean found = FALSE;
  g_mutex_lock(&keyring->lock);
  gint64 now = g_get_monotonic_time();
  drop_expired_locked(keyring, now);
  for (guint i = 0; i < keyring->n_entries; i++) {
    Entry* entry = &keyring->entries[i];
    if (bcast_tek_key_id(&entry->tek) != key_id) continue;
    if (entry->first_use == 0) entry->first_use = now;
    *out = entry->tek;
    found = TRUE;
    break;
  }
  g_mutex_unlock(&keyring->lock);
  return found;
}

guint bcast_keyring_get_n_added(BcastKeyring* keyring) {
  g_return_val_if_fail(BCAST_IS_KEYRING(keyring), 0);
  g_mutex_lock(&keyring->lock);
  guint n = keyring->n_added;
  g_mutex_unlock(&keyring->lock);
  return n;
}

GstContext* bcast_keyring_context_new(BcastKeyring* keyring) {
  g_return_val_if_fail(BCAST_IS_KEYRING(keyring), nullptr);
  // Persistent: the keys must survive the element going back to NULL and up again.
  GstContext* context = gst_context_new(BCAST_KEYRING_CONTEXT_TYPE, TRUE);
  GstStructure* s = gst_context_writable_structure(context);
  gst_structure_set(s, kContextField, BCAST_TYPE_KEYRING, keyring, nullptr);
  return context;
}

BcastKeyring* bcast_keyring_from_context(GstContext* context) {
  g_return_val_if_fail(GST_IS_CONTEXT(context), nullptr);
  if (g_strcmp0(gst_context_get_context_type(context), BCAST_KEYRING_CONTEXT_TYPE) != 0) {
    return nullptr;
  }
  const GstStructure* s = gst_context_get_structure(context);
  BcastKeyring* keyring = nullptr;
  if (!gst_structure_get(s, kContextField, BCAST_TYPE_KEYRING, &keyring, nullptr)) return nullptr;
  return keyring;
}

gboolean bcast_keyring_handle_context_query(GstElement* element, GstQuery* query) {
  g_return_val_if_fail(GST_IS_ELEMENT(element), FALSE);
  if (GST_QUERY_TYPE(query) != GST_QUERY_CONTEXT) return FALSE;
  const gchar* type = nullptr;
  if (!gst_query_parse_context_type(query, &type) ||
      g_strcmp0(type, BCAST_KEYRING_CONTEXT_TYPE) != 0) {
    return FALSE;
  }
  GstContext* context = gst_element_get_context(element, BCAST_KEYRING_CONTEXT_TYPE);
  if (context == nullptr) return FALSE;
  gst_query_set_context(query, context);
  gst_context_unref(context);
  return TRUE;
}

// gst_iterator_fold callback: stops at the first peer that answers.
static gboolean context_pad_query(const GValue* item, GValue* value, gpointer user_data) {
  GstPad* pad = GST_PAD(g_value_get_object(item));
  GstQuery* query = static_cast<GstQuery*>(user_data);
  if (gst_pad_peer_query(pad, query)) {
    g_value_set_boolean(value, TRUE);
    return FALSE;
  }
  return TRUE;
}

static gboolean run_context_query(GstElement* element, GstQuery* query, GstPadDirection dir) {
  GstIterator* it = dir == GST_PAD_SRC ? gst_element_iterate_src_pads(element)
                                       : gst_element_iterate_sink_pads(element);
  GValue res = G_VALUE_INIT;
  g_value_init(&res, G_TYPE_BOOLEAN);
  GstIteratorResult result;
  while ((result = gst_iterator_fold(it, context_pad_query, &res, query)) == GST_ITERATOR_RESYNC) {
    gst_iterator_resync(it);
  }
  gst_iterator_free(it);
  return g_value_get_boolean(&res);
}

static BcastKeyring* keyring_set_on_element(GstElement* element) {
  GstContext* context = gst_element_get_context(element, BCAST_KEYRING_CONTEXT_TYPE);
  if (context == nullptr) return nullptr;
  BcastKeyring* keyring = bcast_keyring_from_context(context);
  gst_context_unref(context);
  return keyring;
}

BcastKeyring* bcast_keyring_obtain(GstElement* element) {
  g_return_val_if_fail(GST_IS_ELEMENT(element), nullptr);
  g_type_ensure(BCAST_TYPE_KEYRING);  // registers the debug category too

  // 1. Set by the application or the bin before (GstElement::set_context stores it).
  BcastKeyring* keyring = keyring_set_on_element(element);
  if (keyring != nullptr) {
    GST_CAT_DEBUG_OBJECT(bcast_keyring_debug, element, "using keyring %p set on the element",
                         keyring);
    return keyring;
  }

  // 2. A neighbour downstream, then upstream, that already has one.
  GstQuery* query = gst_query_new_context(BCAST_KEYRING_CONTEXT_TYPE);
  if (run_context_query(element, query, GST_PAD_SRC) ||
      run_context_query(element, query, GST_PAD_SINK)) {
    GstContext* context = nullptr;
    gst_query_parse_context(query, &context);
    if (context != nullptr) {
      GST_CAT_DEBUG_OBJECT(bcast_keyring_debug, element, "keyring found by context query");
      gst_element_set_context(element, context);
    }
  }
  gst_query_unref(query);
  keyring = keyring_set_on_element(element);
  if (keyring != nullptr) return keyring;

  // 3. Ask the bin / application; GstBin answers synchronously from the contexts it has seen.
  gst_element_post_message(
      element, gst_message_new_need_context(GST_OBJECT_CAST(element), BCAST_KEYRING_CONTEXT_TYPE));
  keyring = keyring_set_on_element(element);
  if (keyring != nullptr) {
    GST_CAT_DEBUG_OBJECT(bcast_keyring_debug, element, "keyring from NEED_CONTEXT answer");
    return keyring;
  }

  // 4. First in the pipeline: make one and announce it; the bin keeps it and hands it to every
  // element that asks later.
  keyring = bcast_keyring_new();
  GstContext* context = bcast_keyring_context_new(keyring);
  GST_CAT_INFO_OBJECT(bcast_keyring_debug, element, "created keyring %p", keyring);
  gst_element_set_context(element, context);
  gst_element_post_message(element,
                           gst_message_new_have_context(GST_OBJECT_CAST(element), context));
  return keyring;
}
