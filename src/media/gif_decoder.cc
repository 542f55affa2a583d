// GIF through giflib: the first image of the file, as Pillow's
// GifImagePlugin shows frame 0:
//  - the canvas is the logical screen, grown to hold the frame when the
//    frame reaches past it;
//  - pixels outside the frame are the frame's transparency index (from its
//    graphic control extension) or 0, looked up in the palette;
//  - transparent pixels inside the frame keep their index (frame 0 is
//    decoded without transparency), and the result is a palette lookup;
//  - the palette is the local colour table, else the global one; indices
//    past its end (or with no table at all) give Pillow's grey ramp (i,i,i).
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "media/format_decoders.h"

namespace eric::media {
namespace {

struct GifReader {
  std::string_view bytes;
  size_t pos = 0;
};

int read_from_memory(GifFileType* gif, GifByteType* out, int length) {
  auto* reader = static_cast<GifReader*>(gif->UserData);
  const size_t n = std::min(static_cast<size_t>(std::max(length, 0)), reader->bytes.size() - reader->pos);
  std::memcpy(out, reader->bytes.data() + reader->pos, n);
  reader->pos += n;
  return static_cast<int>(n);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

Status gif_error(const char* what, int code) {
  const char* text = GifErrorString(code);
  return DataLoss("GIF decoding failed while {}: {}", what, text ? text : "unknown error");
}

}  // namespace

Result<RgbImage> decode_gif(std::string_view bytes, const DecodeOptions& options) {
  GifReader reader{bytes, 0};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_from_memory, &error));
  if (!gif) return gif_error("reading the screen descriptor", error);

  int transparency = -1;  // from the last graphic control extension before the image
  for (;;) {
    GifRecordType record;
    if (DGifGetRecordType(gif.get(), &record) == GIF_ERROR) return gif_error("reading a record", gif->Error);
    if (record == TERMINATE_RECORD_TYPE) return DataLoss("GIF file contains no image");
    if (record == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif.get(), &code, &ext) == GIF_ERROR) return gif_error("reading an extension", gif->Error);
      if (code == GRAPHICS_EXT_FUNC_CODE && ext != nullptr && ext[0] >= 4 && (ext[1] & 1)) transparency = ext[4];
      while (ext != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &ext) == GIF_ERROR) return gif_error("reading an extension", gif->Error);
      }
      continue;
    }
    if (record != IMAGE_DESC_RECORD_TYPE) continue;

    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) return gif_error("reading the image descriptor", gif->Error);
    const GifImageDesc& desc = gif->Image;
    const int64_t fx = desc.Left, fy = desc.Top, fw = desc.Width, fh = desc.Height;
    const int64_t canvas_w = std::max<int64_t>(gif->SWidth, fx + fw);
    const int64_t canvas_h = std::max<int64_t>(gif->SHeight, fy + fh);
    ERIC_RETURN_IF_ERROR(check_image_dimensions("GIF", canvas_w, canvas_h, options));

    uint8_t palette[256][3];
    for (int i = 0; i < 256; ++i) palette[i][0] = palette[i][1] = palette[i][2] = static_cast<uint8_t>(i);
    const ColorMapObject* map = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
    if (map != nullptr) {
      for (int i = 0; i < map->ColorCount && i < 256; ++i) {
        palette[i][0] = map->Colors[i].Red;
        palette[i][1] = map->Colors[i].Green;
        palette[i][2] = map->Colors[i].Blue;
      }
    }

    const uint8_t fill = static_cast<uint8_t>(transparency >= 0 ? transparency : 0);
    std::vector<uint8_t> indices(static_cast<size_t>(canvas_w) * static_cast<size_t>(canvas_h), fill);
    if (fw > 0 && fh > 0) {
      // Interlaced images store rows in four passes: every 8th from 0, every
      // 8th from 4, every 4th from 2, every 2nd from 1.
      static constexpr int kStart[4] = {0, 4, 2, 1};
      static constexpr int kStep[4] = {8, 8, 4, 2};
      const int passes = desc.Interlace ? 4 : 1;
      for (int pass = 0; pass < passes; ++pass) {
        const int start = desc.Interlace ? kStart[pass] : 0;
        const int step = desc.Interlace ? kStep[pass] : 1;
        for (int64_t y = start; y < fh; y += step) {
          uint8_t* row = indices.data() + static_cast<size_t>(fy + y) * canvas_w + fx;
          if (DGifGetLine(gif.get(), row, static_cast<int>(fw)) == GIF_ERROR) {
            return gif_error("decoding image rows", gif->Error);
          }
        }
      }
    }
    RgbImage image(static_cast<int>(canvas_w), static_cast<int>(canvas_h));
    for (size_t i = 0; i < indices.size(); ++i) std::memcpy(&image.pixels[3 * i], palette[indices[i]], 3);
    return image;
  }
}

}  // namespace eric::media
