/* tools/default_text.c - the text `qprof layers` profiles when given none.
 *
 * Written for qprof (no third-party text): plain English prose with some
 * numbers, names and punctuation, about 2,900 characters, enough for 512
 * tokens with common tokenizers (the CLI repeats it when more are asked).
 * Profiles made with the default text are comparable with each other. */
#include "default_text.h"

const char qp_default_text[] =
    "The old lighthouse on the northern cape was switched off in 1987, but the keeper's log "
    "books are still kept in a wooden cabinet at the harbour office. Each page records the "
    "weather at six in the morning and six in the evening, the ships that passed, and any "
    "repairs made to the lamp. Reading them in order, one sees the slow arrival of new "
    "machines: a diesel generator in 1952, a radio telephone in 1961, and finally an "
    "automatic beacon that made the keeper unnecessary.\n\n"
    "Most entries are short. \"Wind south-west, force 5. Visibility good. Trawler Margaret "
    "returned at 14:20.\" A few are longer, written on nights when a storm kept everyone "
    "awake. On 3 February 1953 the keeper wrote four pages about a cargo ship that lost "
    "power two miles offshore; the crew of eleven were taken off by the lifeboat before "
    "dawn, and the ship itself drifted onto the rocks a week later.\n\n"
    "Engineers who design measuring instruments often say that a measurement is only as "
    "good as its reference. A thermometer must be checked against ice water and boiling "
    "water; a scale must be checked against a known weight. The same idea applies to "
    "software that compresses numbers. If a program stores each value with fewer bits, "
    "it will save memory and time, but it will also make small errors, and the only way "
    "to know whether those errors matter is to compare the result with a careful "
    "calculation done at full precision.\n\n"
    "In a large language model, the numbers that are compressed are the weights of its "
    "layers. A typical model has a few dozen layers, and each layer contains an attention "
    "block, which decides which earlier words to look at, and a feed-forward block, which "
    "transforms what was found. Not every layer reacts to compression in the same way. "
    "The first and last layers are often more sensitive than those in the middle, and some "
    "matrices, such as the ones that project values back into the main stream, tend to "
    "carry rare but large numbers that are hard to represent with four bits.\n\n"
    "Cooking offers a useful comparison. A recipe that calls for 250 grams of flour will "
    "forgive a cook who uses 240 or 260, but a recipe that calls for 5 grams of salt will "
    "not forgive a cook who uses 15. Some ingredients tolerate rough measurement and others "
    "do not, and an experienced cook knows which is which. A profiler for compressed models "
    "tries to give engineers the same knowledge: where rough measurement is harmless, and "
    "where it changes the taste of the whole dish.\n\n"
    "The keeper's last entry, dated 30 June 1987, is a single line: \"Lamp extinguished at "
    "05:12. Sea calm. Nothing further to report.\" Below it, in a different hand, someone "
    "has added the number of years the light had burned: one hundred and twelve.\n";
