// A structure-aware mutation for inputs made of JSON documents: a whole JSON answer, or an event
// stream whose `data:` lines hold JSON. It picks one value in one document and gives it another
// JSON type or value (a number for a string, an object for an array, …), which byte-level
// mutation reaches only by luck: a provider sending a field of the wrong type is the commonest
// way to break a reader that trusts types.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tollgate::fuzz {

// For LLVMFuzzerCustomMutator: mutates data[0, size) in place, returns the new size (at most
// max_size). Half the time, and whenever the input holds no JSON, it leaves the mutation to
// libFuzzer's own (LLVMFuzzerMutate).
size_t mutate_json_documents(uint8_t* data, size_t size, size_t max_size, unsigned int seed);

}  // namespace tollgate::fuzz
