// The pickle opcodes: the byte values the unpickler executes, and the names of those it refuses.
//
// Values are those of CPython's Lib/pickle.py (protocols 0 to 5). Only the opcodes torch.save writes for a state
// dict, plus a few trivial stack ones, are executed; the rest are named so that refusing one says what it is.
#pragma once

namespace vitorch::checkpoint {

namespace pickle_op {
// Opcodes this VM executes.
constexpr unsigned char kMark = '(';
constexpr unsigned char kStop = '.';
constexpr unsigned char kPop = '0';
constexpr unsigned char kPopMark = '1';
constexpr unsigned char kDup = '2';
constexpr unsigned char kBinInt = 'J';
constexpr unsigned char kBinInt1 = 'K';
constexpr unsigned char kBinInt2 = 'M';
constexpr unsigned char kNone = 'N';
constexpr unsigned char kBinPersId = 'Q';
constexpr unsigned char kReduce = 'R';
constexpr unsigned char kBinString = 'T';
constexpr unsigned char kShortBinString = 'U';
constexpr unsigned char kBinUnicode = 'X';
constexpr unsigned char kAppend = 'a';
constexpr unsigned char kBuild = 'b';
constexpr unsigned char kGlobal = 'c';
constexpr unsigned char kDict = 'd';
constexpr unsigned char kEmptyDict = '}';
constexpr unsigned char kAppends = 'e';
constexpr unsigned char kBinGet = 'h';
constexpr unsigned char kLongBinGet = 'j';
constexpr unsigned char kList = 'l';
constexpr unsigned char kEmptyList = ']';
constexpr unsigned char kBinPut = 'q';
constexpr unsigned char kLongBinPut = 'r';
constexpr unsigned char kSetItem = 's';
constexpr unsigned char kTuple = 't';
constexpr unsigned char kEmptyTuple = ')';
constexpr unsigned char kSetItems = 'u';
constexpr unsigned char kBinFloat = 'G';
constexpr unsigned char kProto = 0x80;
constexpr unsigned char kNewObj = 0x81;
constexpr unsigned char kTuple1 = 0x85;
constexpr unsigned char kTuple2 = 0x86;
constexpr unsigned char kTuple3 = 0x87;
constexpr unsigned char kNewTrue = 0x88;
constexpr unsigned char kNewFalse = 0x89;
constexpr unsigned char kLong1 = 0x8a;
constexpr unsigned char kLong4 = 0x8b;
constexpr unsigned char kBinBytes = 'B';
constexpr unsigned char kShortBinBytes = 'C';
constexpr unsigned char kShortBinUnicode = 0x8c;
constexpr unsigned char kBinUnicode8 = 0x8d;
constexpr unsigned char kBinBytes8 = 0x8e;
constexpr unsigned char kStackGlobal = 0x93;
constexpr unsigned char kMemoize = 0x94;
constexpr unsigned char kFrame = 0x95;
}  // namespace pickle_op

// Names of the opcodes that exist but that torch.save never writes for a state dict, so that refusing one says
// what it is rather than "unknown".
inline const char* unsupported_opcode_name(unsigned char opcode) {
  switch (opcode) {
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'P': return "PERSID";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'g': return "GET";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

}  // namespace vitorch::checkpoint
